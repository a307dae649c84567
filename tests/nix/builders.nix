# The builders of nix/lib.nix on the test trees prepared by
# tests/testsuite/nix_builders.rs in ROOT (nixpkgs is not available offline, so
# runCommand is a minimal stand-in made from builtins.derivation, with the
# host's /bin and /usr visible in the sandbox through extra-sandbox-paths):
#   nix-build tests/nix/builders.nix --argstr root ROOT -A aggregate
{ root }:

let
  system = builtins.currentSystem;
  dir = name: /. + "${root}/${name}";
  import' =
    name:
    builtins.path {
      inherit name;
      path = dir name;
    };
  package = name: {
    inherit name;
    outPath = import' name;
  };

  # nixpkgs' runCommand: name -> env -> script, run by bash with
  # `set -eu -o pipefail` in the build directory, the bin folders of
  # env.nativeBuildInputs on PATH before the host's /usr/bin and /bin.
  runCommand =
    name: env: script:
    derivation (
      env
      // {
        inherit name system;
        builder = "/bin/bash";
        args = [
          "-eu"
          "-o"
          "pipefail"
          "-c"
          ''
            PATH=/usr/bin:/bin
            for p in ''${nativeBuildInputs-}; do PATH=$p/bin:$PATH; done
            export PATH
            cd "$NIX_BUILD_TOP"
            eval "$buildCommand"
          ''
        ];
        buildCommand = script;
      }
    );

  kmodtree = import' "kmodtree";
  builders = import ../../nix/lib.nix { inherit runCommand kmodtree; };

  # A minimal nixpkgs (./nixpkgs.nix) with kmodtree's overlay, then the
  # kmodtree built by the test in place of nix/package.nix's.
  pkgs = import ./nixpkgs.nix {
    overlays = [
      (import ../../nix/overlay.nix)
      (final: prev: { inherit kmodtree; })
    ];
  };

  # awk, which nixpkgs' stdenv has and kbuild needs: the host's
  # /usr/bin/awk links to /etc/alternatives, not visible in the sandbox.
  awk = runCommand "host-awk" { } ''
    mkdir -p "$out/bin"
    for a in gawk mawk original-awk; do
      if [ -x "/usr/bin/$a" ]; then
        ln -s "/usr/bin/$a" "$out/bin/awk"
        exit 0
      fi
    done
    echo "no awk in /usr/bin"
    exit 1
  '';

  kernel61 = package "linux-6.1";
  extra61 = package "extra-6.1";
  updates61 = package "updates-6.1";
  roots = builtins.fromJSON (builtins.readFile (dir "roots.json"));
  extraFirmwarePaths = builtins.fromJSON (builtins.readFile (dir "extra-firmware.json"));
  kernel612 = package "linux-6.12";
  firmware = package "firmware";
in
rec {
  # Succeeds only inside the sandbox: the host's /var, /root and /work
  # are not there.
  sandboxProbe = runCommand "sandbox-probe" { } ''
    for d in /var /root /work /proc/1/root/var; do
      if [ -e "$d" ]; then
        echo "$d is visible: not sandboxed"
        exit 1
      fi
    done
    echo sandboxed > "$out"
  '';

  aggregate = builders.aggregateModules [
    kernel61
    extra61
    updates61
  ];

  # Must fail: "inconsistent kernel versions".
  aggregateMixed = builders.aggregateModules [
    kernel61
    (package "other-version")
  ];

  closure = builders.makeModulesClosure {
    kernel = kernel612;
    inherit firmware extraFirmwarePaths;
    rootModules = roots;
  };

  closureMissing = builders.makeModulesClosure {
    kernel = kernel612;
    inherit firmware;
    rootModules = [
      "vcan"
      "no_such_module"
    ];
    allowMissing = true;
  };

  # Every root missing: an empty closure, as nixpkgs gives it...
  closureEmptyAccepted = builders.makeModulesClosure {
    kernel = kernel612;
    inherit firmware;
    rootModules = [ "no_such_module" ];
    allowMissing = true;
  };
  # ... and a failure with the open PR's allowEmpty = false.
  closureEmpty = builders.makeModulesClosure {
    kernel = kernel612;
    inherit firmware;
    rootModules = [ "no_such_module" ];
    allowMissing = true;
    allowEmpty = false;
  };

  # NixOS's call forms, through the overlay in the minimal nixpkgs.
  # nixos/modules/system/boot/kernel.nix, system.modulesTree's apply:
  nixosModulesTree = (pkgs.aggregateModules [
    kernel61
    extra61
    updates61
  ]).override { name = "linux-6.1-modules"; };
  # The same with the kernel alone: the kernel's own databases.
  nixosKernelOnly = (pkgs.aggregateModules [ kernel612 ]).override {
    name = "linux-6.12-modules";
  };
  # Downstream: overrideAttrs adding passthru.target.
  withTarget = (pkgs.aggregateModules [
    kernel61
    extra61
  ]).overrideAttrs (old: {
    passthru = (old.passthru or { }) // {
      target = "kmodtree-target";
    };
  });
  # nixpkgs PR #426290's arguments.
  withDepmodConfig = (pkgs.aggregateModules [
    kernel61
    extra61
    updates61
  ]).override {
    kernelVersion = "6.1.0-56-amd64";
    depmodConfig.overrides = [
      {
        moduleName = "loop";
        modulePackage = kernel61;
        modulePath = "kernel/drivers/block";
      }
    ];
  };
  # Warm: the kernel's manifest as a derivation, then the aggregate.
  manifest61 = pkgs.kernelManifest kernel61;
  warmModulesTree = (pkgs.aggregateModules [
    kernel61
    extra61
    updates61
  ]).override { manifest = pkgs.kernelManifest kernel61; };
  # nixos/modules/system/boot/stage-1.nix: the initrd's closure, from the
  # modules tree.
  nixosInitrd = pkgs.makeModulesClosure {
    rootModules = roots;
    kernel = (pkgs.aggregateModules [ kernel612 ]).override { name = "linux-6.12-modules"; };
    inherit firmware;
    allowMissing = false;
    inherit extraFirmwarePaths;
  };
  # Beyond nixpkgs: the firmware of every built-in module too.
  builtinFirmware = pkgs.makeModulesClosure {
    rootModules = [ "vcan" ];
    kernel = kernel612;
    inherit firmware;
    builtinFirmware = true;
  };

  # Evaluated, not built: what the call forms give.
  evalChecks = {
    modulesTreeName = nixosModulesTree.name;
    defaultName = (pkgs.aggregateModules [ kernel61 ]).name;
    target = withTarget.target;
    targetInPassthru = withTarget.passthru.target;
    targetOverridable = (withTarget.override { name = "renamed"; }).name;
    closureName = nixosInitrd.name;
    closureOverride = (nixosInitrd.override { allowMissing = true; }).name;
    libHasOverride = (builders.aggregateModules [ kernel61 ]) ? override;
    libOverrideName = ((builders.aggregateModules [ kernel61 ]).override { name = "x"; }).name;
    missingPackage =
      (builtins.tryEval
        ((pkgs.aggregateModules [ kernel61 ]).override {
          depmodConfig.overrides = [
            {
              moduleName = "loop";
              modulePackage = extra61;
              modulePath = "extra";
            }
          ];
        }).drvPath
      ).success;
  };

  loader = builders.kmodloader {
    kernel = kernel612;
    targets = builtins.fromJSON (builtins.readFile (dir "targets.json"));
  };

  # The one-module dkms.conf source in ROOT/dkms-hello, built against
  # Debian's headers (visible through /usr; their symlinks into
  # /usr/lib/linux-kbuild-6.1 stay there), its vermagic checked against
  # the modules of the amd64-6.1-ko fixture tree (ROOT/linux-6.1-ko).
  dkms = builders.buildDkmsModule {
    name = "dkms-hello";
    src = import' "dkms-hello";
    kernelVersion = "6.1.0-56-amd64";
    kernelBuild = "/usr/src/linux-headers-6.1.0-56-amd64";
    kernelModules = "${import' "linux-6.1-ko"}/lib/modules/6.1.0-56-amd64";
    compress = "xz";
    nativeBuildInputs = [ awk ];
  };
}
