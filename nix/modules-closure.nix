# pkgs.makeModulesClosure with kmodtree: the argument set of nixpkgs'
# pkgs/build-support/kernel/modules-closure.nix, called as nixpkgs calls it
# (callPackage), e.g. by NixOS's initrd:
#
#   makeModulesClosure { rootModules = [ ... ]; kernel = modulesTree;
#                        firmware = firmware; allowMissing = false; }
#
# $out as nixpkgs' modules-closure.sh writes it:
#   * lib/modules/VERSION: the modules `modprobe --config no-config -d
#     $kernel --show-depends` loads for each root (built-in ones noted, not
#     copied), at their paths; databases from depmod with the kernel's
#     modules.order and modules.builtin, both removed afterwards (so no
#     modules.builtin.modinfo, and an empty modules.builtin.alias.bin);
#   * insmod-list: $out/lib/modules/VERSION/... of the copied modules, in
#     load order;
#   * lib/firmware: for each member of the closure (built-in ones too), each
#     name of its `firmware` field as NAME, else NAME.xz, else NAME.zst,
#     where a name is expanded as bash expands the unquoted word (a pattern
#     copies every file it matches; an unmatched pattern is a literal name);
#     the same for extraFirmwarePaths; lib/firmware/edid whole;
#   * no lib/modules in $kernel: an empty $out if rootModules is empty or
#     allowMissing is set, else failure.
#   * nukeReferences (nixpkgs passes it through callPackage): nuke-refs on
#     every copied module before depmod, as nixpkgs.
#
# allowEmpty comes from nixpkgs PR (open), not nixpkgs: left unset, an
# empty closure is accepted as nixpkgs does; `false` makes a closure that
# copies no module although rootModules is not empty an error (the PR's
# default); `true` accepts it.
#
# Beyond nixpkgs: builtinFirmware = true also copies the firmware of every
# module built into the kernel (from modules.builtin.modinfo), which the
# closure cannot see otherwise (e.g. a built-in GPU driver).
{
  runCommand,
  kmodtree,
  kernel,
  firmware,
  rootModules,
  allowMissing ? false,
  allowEmpty ? null,
  extraFirmwarePaths ? [ ],
  builtinFirmware ? false,
  nukeReferences ? null,
  # Arguments nixpkgs' own builder takes, accepted and unused.
  stdenvNoCC ? null,
  kmod ? null,
  ...
}:

let
  bin = "${kmodtree}/bin/kmodtree";
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  words = xs: builtins.concatStringsSep " " (map quote xs);
  nameOf = drv: if builtins.isAttrs drv && drv ? name then drv.name else "kernel";
in
runCommand (nameOf kernel + "-shrunk")
  {
    inherit kernel firmware;
    allowedReferences = [ "out" ];
  }
  ''
    roots=(${words rootModules})
    allowMissing=${if allowMissing then "1" else ""}
    allowEmpty=${
      if allowEmpty == null then
        "1"
      else if allowEmpty then
        "1"
      else
        ""
    }
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
      ${if builtinFirmware then "--builtin-firmware" else ""} \
      ''${allowMissing:+--allow-missing} "''${roots[@]}"
    if ! [ -s "$out/insmod-list" ]; then
      empty_closure
    fi
    ${
      if nukeReferences == null then
        ""
      else
        ''
          if [ -e "$out/insmod-list" ]; then
            while read -r module; do
              ${nukeReferences}/bin/nuke-refs "$module"
            done < "$out/insmod-list"
          fi
        ''
    }
    moddir=$out/lib/modules/$version
    rm -f "$moddir/modules.builtin.modinfo"
    ${bin} depmod -b "$out" -a "$version"
    rm -f "$moddir/modules.order" "$moddir/modules.builtin"

    # extraFirmwarePaths: each expanded by bash itself, as nixpkgs' script.
    extra=(${words extraFirmwarePaths})
    if [ ''${#extra[@]} -gt 0 ]; then
      (
        cd "$firmware"
        for path in "''${extra[@]}"; do
          for name in "$path" "$path.xz" "$path.zst"; do
            if cp --parents --no-preserve=mode -L lib/firmware/$name "$out" 2>/dev/null; then
              break
            fi
          done
        done
      )
    fi
    if [ -e "$firmware/lib/firmware/edid" ]; then
      echo "lib/firmware/edid found, copying."
      mkdir -p "$out/lib/firmware"
      cp -RL --no-preserve=mode "$firmware/lib/firmware/edid" "$out/lib/firmware/edid"
    else
      echo "lib/firmware/edid not found, skipping."
    fi
  ''
