# Drop-in replacements for nixpkgs' kernel module tree builders, each a
# runCommand that calls kmodtree:
#
#   aggregateModules [ kernel extraModules ... ]
#     like pkgs.aggregateModules (pkgs/os-specific/linux/kmod/aggregator.nix)
#   makeModulesClosure { kernel, firmware, rootModules, allowMissing ? false,
#                        allowEmpty ? false, extraFirmwarePaths ? [ ] }
#     like pkgs.makeModulesClosure (pkgs/build-support/kernel/modules-closure.nix)
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

  # Shell words, single-quoted.
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  words = xs: builtins.concatStringsSep " " (map quote xs);

  nameOf = drv: if builtins.isAttrs drv && drv ? name then drv.name else "kernel";

  # A shell function printing the kernel versions (directory names under
  # lib/modules, not hidden ones, as nixpkgs' `ls -d *`) of its arguments,
  # sorted and unique.
  findVersion = ''
    kmodtree_versions() {
      for input in "$@"; do
        if [ -d "$input/lib/modules" ]; then
          ls "$input/lib/modules"
        fi
      done | sort -u
    }
  '';
in
{
  # buildEnv of the module packages, then fresh databases. Differences from
  # nixpkgs: every directory of the result is a real directory (buildEnv
  # links a directory that only one package has), so the databases are
  # always regenerated; collisions between different files are errors, as
  # with buildEnv (identical files are not collisions).
  aggregateModules =
    modules:
    runCommand "kernel-modules"
      {
        inherit modules;
        preferLocalBuild = true;
      }
      ''
        ${findVersion}
        versions=$(kmodtree_versions $modules)
        if [ -z "$versions" ]; then
          echo "No modules found."
          if [ -n "$modules" ]; then
            ${bin} union --collisions error "$out" $modules
          else
            mkdir -p "$out"
          fi
          exit 0
        fi
        if [ "$(echo $versions | wc -w)" != 1 ]; then
          echo "inconsistent kernel versions:" $versions
          exit 1
        fi
        echo "kernel version is $versions"
        ${bin} make-module-directory --collisions error "$out" "$versions" $modules
      '';

  # The closure of rootModules (what `modprobe --show-depends` loads for
  # each), their firmware (as NAME, NAME.xz or NAME.zst), extraFirmwarePaths
  # and lib/firmware/edid, in $out with databases and $out/insmod-list, as
  # nixpkgs' modules-closure.sh writes them: modules.order and
  # modules.builtin are used by depmod and then removed, and
  # modules.builtin.modinfo is not copied (so modules.builtin.alias.bin is
  # empty, as nixpkgs').
  #
  # allowEmpty: nixpkgs' newer flag. Unless it is set, a closure that
  # copies no module although rootModules is not empty is an error (with
  # allowMissing, every root may have been skipped).
  makeModulesClosure =
    {
      kernel,
      firmware,
      rootModules,
      allowMissing ? false,
      allowEmpty ? false,
      extraFirmwarePaths ? [ ],
    }:
    runCommand (nameOf kernel + "-shrunk")
      {
        inherit kernel firmware;
        allowedReferences = [ "out" ];
      }
      ''
        set -e
        roots=(${words rootModules})
        allowMissing=${if allowMissing then "1" else ""}
        allowEmpty=${if allowEmpty then "1" else ""}
        empty_closure() {
          if [ ''${#roots[@]} -gt 0 ] && [ -z "$allowEmpty" ]; then
            echo "no module of the closure of: ''${roots[*]} (set allowEmpty to accept an empty closure)"
            exit 1
          fi
        }
        if ! [ -d "$kernel/lib/modules" ]; then
          if [ ''${#roots[@]} -eq 0 ] || [ -n "$allowMissing" ]; then
            empty_closure
            mkdir -p "$out"
            exit 0
          fi
          echo "Required modules: ''${roots[*]}"
          echo "Can not derive a closure of kernel modules because no modules were provided."
          exit 1
        fi
        version=$(ls "$kernel/lib/modules")
        if [ "$(echo $version | wc -w)" != 1 ]; then
          echo "inconsistent kernel versions:" $version
          exit 1
        fi
        echo "kernel version is $version"

        # modprobe --config no-config: no modprobe.d configuration at all.
        : > no-config
        ${bin} closure -C no-config -b "$kernel" "$version" --out "$out" \
          --firmware "$firmware/lib/firmware" \
          ''${allowMissing:+--allow-missing} "''${roots[@]}"
        if ! [ -s "$out/insmod-list" ]; then
          empty_closure
        fi

        moddir=$out/lib/modules/$version
        rm -f "$moddir/modules.builtin.modinfo"
        ${bin} depmod -b "$out" "$version"
        rm -f "$moddir/modules.order" "$moddir/modules.builtin"
        ${
          if nukeReferences == null then
            ""
          else
            ''
              while read -r module; do
                ${nukeReferences}/bin/nuke-refs "$module"
              done < "$out/insmod-list"
            ''
        }

        for path in ${words extraFirmwarePaths}; do
          for name in "$path" "$path.xz" "$path.zst"; do
            if [ -e "$firmware/lib/firmware/$name" ]; then
              mkdir -p "$(dirname "$out/lib/firmware/$name")"
              cp -L "$firmware/lib/firmware/$name" "$out/lib/firmware/$name"
              chmod u+w "$out/lib/firmware/$name"
              break
            fi
          done
        done
        if [ -e "$firmware/lib/firmware/edid" ]; then
          echo "lib/firmware/edid found, copying."
          mkdir -p "$out/lib/firmware"
          cp -RL "$firmware/lib/firmware/edid" "$out/lib/firmware/edid"
          chmod -R u+w "$out/lib/firmware/edid"
        else
          echo "lib/firmware/edid not found, skipping."
        fi
      '';

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
