# The builders of nix/lib.nix on the test trees prepared by
# tests/nix_builders.rs in ROOT (nixpkgs is not available offline, so
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
  kernel612 = package "linux-6.12";
  firmware = package "firmware";
in
{
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
    (package "extra-6.1")
    (package "updates-6.1")
  ];

  # Must fail: "inconsistent kernel versions".
  aggregateMixed = builders.aggregateModules [
    kernel61
    (package "other-version")
  ];

  closure = builders.makeModulesClosure {
    kernel = kernel612;
    inherit firmware;
    rootModules = builtins.fromJSON (builtins.readFile (dir "roots.json"));
    extraFirmwarePaths = [
      "extra/blob.bin"
      "extra/absent.bin"
    ];
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

  # Must fail: every root missing and allowEmpty unset.
  closureEmpty = builders.makeModulesClosure {
    kernel = kernel612;
    inherit firmware;
    rootModules = [ "no_such_module" ];
    allowMissing = true;
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
