# pkgs.aggregateModules with kmodtree: the argument set of nixpkgs'
# pkgs/os-specific/linux/kmod/aggregator.nix, called the way nixpkgs calls
# it (callPackage, so `.override { name = ...; }` and `.overrideAttrs` work):
#
#   aggregateModules = modules:
#     callPackage ./aggregator.nix { inherit modules; inherit (buildPackages) kmod; };
#
# What it builds, as nixpkgs' buildEnv + postBuild does:
#   * the union of `modules` as buildEnv makes it (a directory only one
#     input holds is one symbolic link to it, the others real directories
#     of links; different files under one name are an error, identical
#     ones are not);
#   * no input with lib/modules: "No modules found.", the union alone;
#   * several kernel versions: "inconsistent kernel versions: ...", failure;
#   * one input with lib/modules/VERSION (a kernel alone): the kernel's own
#     databases, unchanged (nixpkgs' buildEnv links that directory, which is
#     then not writable, so its depmod does not run);
#   * several: every modules.* but modules.builtin* and modules.order*
#     removed, and fresh databases from `kmodtree depmod -b $out
#     -C $out/etc/depmod.d -a VERSION` (kmod's depmod, byte for byte), so
#     configuration comes only from the inputs' etc/depmod.d.
#
# From nixpkgs PR #426290 (open): `kernelVersion` (checked against the
# version found) and `depmodConfig` ({ overrides = [ { moduleName;
# modulePackage; modulePath; } ]; }), written as "override NAME * PATH"
# lines into lib/modules/VERSION/depmod.conf and used instead of
# etc/depmod.d. The package of an override must be one of `modules`
# (checked when evaluating); its path is checked when building.
#
# Beyond nixpkgs: `manifest`, a derivation holding `kmodtree.manifest`
# (see ./manifest.nix) made from the kernel's tree: depmod then reads only
# the modules it does not describe (the extra ones), same output.
{
  runCommand,
  kmodtree,
  modules,
  name ? "kernel-modules",
  kernelVersion ? null,
  depmodConfig ? null,
  manifest ? null,
  # Arguments nixpkgs' own aggregator takes, accepted and unused.
  stdenvNoCC ? null,
  kmod ? null,
  buildEnv ? null,
  callPackage ? null,
  ...
}:

let
  bin = "${kmodtree}/bin/kmodtree";
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  outPathOf = p: builtins.unsafeDiscardStringContext (toString (p.outPath or p));

  overrides = if depmodConfig == null then [ ] else depmodConfig.overrides or [ ];
  checkOverride =
    o:
    if builtins.any (m: outPathOf m == outPathOf o.modulePackage) modules then
      o
    else
      throw "The modulePath for your ${o.moduleName} depmod override is not available. Add ${outPathOf o.modulePackage} to `boot.extraModulePackages`.";
  depmodConf = builtins.concatStringsSep "\n" (
    map (
      o:
      let
        c = checkOverride o;
      in
      "override ${c.moduleName} * ${c.modulePath}"
    ) overrides
  );
  # Shell lines checking that each override's module path exists.
  overrideChecks = builtins.concatStringsSep "\n" (
    map (o: ''
      p=${quote o.modulePackage}/lib/modules/"$version"/${quote o.modulePath}
      if ! [ -e "$p" ]; then
        echo "$p does not exist in store"
        exit 1
      fi
    '') overrides
  );
in
runCommand name
  {
    inherit modules;
    preferLocalBuild = true;
    allowSubstitutes = false;
    passAsFile = [ "depmodConf" ];
    inherit depmodConf;
    manifest = if manifest == null then "" else manifest;
  }
  ''
    # (set before the block using it: bash parses a block whole)
    shopt -s extglob
    # Kernel versions: the entries of the inputs' lib/modules (as nixpkgs'
    # `ls -d *`: hidden ones not), each once; with bash's own globs, as
    # every process started costs time.
    shopt -s nullglob
    declare -A seen=()
    for m in $modules; do
      for v in "$m"/lib/modules/*; do seen[''${v##*/}]=1; done
    done
    shopt -u nullglob
    versions=("''${!seen[@]}")
    union() {
      if [ -n "$modules" ]; then
        ${bin} union --mode buildenv --collisions error "$out" $modules
      else
        mkdir -p "$out"
      fi
    }
    if [ "''${#versions[@]}" = 0 ]; then
      echo "No modules found."
      union
      exit 0
    fi
    if [ "''${#versions[@]}" != 1 ]; then
      echo "inconsistent kernel versions:" $(printf '%s\n' "''${versions[@]}" | LC_ALL=C sort)
      exit 1
    fi
    version=''${versions[0]}
    echo "kernel version is $version"
    ${
      if kernelVersion == null then
        ""
      else
        ''
          if [ "$version" != ${quote kernelVersion} ]; then
            echo "kernelVersion is "${quote kernelVersion}", the modules are for $version"
            exit 1
          fi
        ''
    }
    ${overrideChecks}
    union
    # nixpkgs runs depmod only where buildEnv made lib/modules/VERSION a
    # writable directory (`test -w`): where two different inputs have it,
    # so that neither it nor lib/modules nor lib is a link into an input.
    moddir=$out/lib/modules/$version
    if ! [ -L "$out/lib" ] && ! [ -L "$out/lib/modules" ] && ! [ -L "$moddir" ]; then
      rm -f "$moddir"/modules.!(builtin*|order*)
      ${
        if depmodConfig == null then
          ''config=$out/etc/depmod.d''
        else
          ''
            cp "$depmodConfPath" "$moddir/depmod.conf"
            config=$depmodConfPath
          ''
      }
      warm=()
      if [ -n "$manifest" ]; then
        # Read in place; its update would be thrown away with the build
        # directory, and writing it took as long as the rest of depmod.
        warm=(--manifest "$manifest/kmodtree.manifest" --manifest-read-only)
      fi
      ${bin} depmod -b "$out" -C "$config" "''${warm[@]}" -a "$version"
    fi
  ''
