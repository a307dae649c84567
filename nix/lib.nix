# Drop-in replacements for nixpkgs' kernel module tree builders, each a
# runCommand that calls kmodtree (in nixpkgs itself, use ./overlay.nix):
#
#   aggregateModules [ kernel extraModules ... ]
#     like pkgs.aggregateModules (pkgs/os-specific/linux/kmod/aggregator.nix);
#     see ./aggregator.nix
#   makeModulesClosure { kernel, firmware, rootModules, allowMissing ? false,
#                        extraFirmwarePaths ? [ ], ... }
#     like pkgs.makeModulesClosure (pkgs/build-support/kernel/modules-closure.nix);
#     see ./modules-closure.nix
#   kmodloader { kernel, targets }
#     like liminix's kmodloader: a module tree plus load.sh and unload.sh
#
# Arguments: runCommand (nixpkgs' signature: name -> env -> script), the
# kmodtree package, and optionally nukeReferences (nixpkgs' nuke-refs, run
# on the closure's modules as nixpkgs does). Only builtins are used, so the
# file also works without nixpkgs' lib. See nix/README.md.
{
  runCommand,
  kmodtree,
  nukeReferences ? null,
}:

let
  bin = "${kmodtree}/bin/kmodtree";
  callPackage = (import ./overridable.nix).callPackageWith (
    {
      inherit runCommand kmodtree;
    }
    // (if nukeReferences == null then { } else { inherit nukeReferences; })
  );

  # Shell words, single-quoted.
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  words = xs: builtins.concatStringsSep " " (map quote xs);

in
{
  # nixpkgs' aggregateModules and makeModulesClosure (./aggregator.nix and
  # ./modules-closure.nix, where their arguments and behaviour are
  # described), called as nixpkgs calls them, so their results have
  # `.override` and `.overrideAttrs`.
  aggregateModules = modules: callPackage ./aggregator.nix { inherit modules; };
  makeModulesClosure = args: callPackage ./modules-closure.nix args;
  # The warm-start manifest of a kernel's tree (./manifest.nix).
  kernelManifest = kernel: callPackage ./manifest.nix { inherit kernel; };

  # liminix's kmodloader: the modules `modprobe --show-depends` loads for
  # each target, copied into $out/lib/modules/VERSION with their databases,
  # and $out/load-order (paths relative to that directory, first occurrence
  # kept), $out/load.sh (insmod in that order) and $out/unload.sh (rmmod in
  # reverse). liminix copies the modules to $out itself and wraps the
  # scripts in a oneshot service; wrap this derivation the same way:
  #   oneshot { up = "sh ${loader}/load.sh"; down = "sh ${loader}/unload.sh"; }
  kmodloader =
    {
      kernel,
      targets,
    }:
    runCommand ("kmodloader-" + builtins.concatStringsSep "-" targets) { inherit kernel; } ''
      set -e
      version=$(ls "$kernel/lib/modules")
      if [ "$(echo $version | wc -w)" != 1 ]; then
        echo "inconsistent kernel versions:" $version
        exit 1
      fi
      : > no-config
      ${bin} closure -C no-config -b "$kernel" "$version" --out "$out" \
        --load-scripts ${words targets}
    '';
  # An out-of-tree module whose source ships a dkms.conf (or a GLEP 33
  # BUILD_PARAMS file), built for one kernel: $out/lib/modules/VERSION/...
  # with the modules where DEST_MODULE_LOCATION says, and the step logs in
  # $out/share/kmodtree/dkms/NAME-VERSION. kernel is a nixpkgs kernel
  # (its .dev output holds lib/modules/VERSION/build); kernelBuild and
  # kernelVersion can be given instead. Nix's sandbox already isolates the
  # build, so kmodtree's own namespaces are used only where they can be
  # created (--sandbox auto).
  #   buildDkmsModule { src = fetchFromGitHub { ... }; kernel = linuxPackages.kernel; }
  buildDkmsModule =
    {
      src,
      kernel ? null,
      kernelVersion ? kernel.modDirVersion,
      kernelBuild ? "${kernel.dev}/lib/modules/${kernelVersion}/build",
      kernelModules ? null,
      name ? "dkms-module-${kernelVersion}",
      compress ? null,
      locationOverride ? null,
      nativeBuildInputs ? (if kernel != null then kernel.moduleBuildDependencies or [ ] else [ ]),
      extraArgs ? [ ],
    }:
    runCommand name
      {
        inherit src nativeBuildInputs;
      }
      ''
        cp -r "$src" source
        chmod -R u+w source
        ${bin} dkms build source --kernel-build ${quote kernelBuild} \
          -k ${quote kernelVersion} --out "$out" --sandbox auto \
          ${if compress == null then "" else "--compress ${quote compress}"} \
          ${if kernelModules == null then "" else "--kernel-modules ${quote kernelModules}"} \
          ${if locationOverride == null then "" else "--location-override ${quote locationOverride}"} \
          ${words extraArgs}
      '';
}
