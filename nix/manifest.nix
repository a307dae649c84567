# A kernel's module manifest, for warm aggregates: $out/kmodtree.manifest,
# written by `kmodtree depmod --manifest` over a copy of the kernel's tree
# (the databases it writes there are thrown away). aggregateModules reads it
# (`manifest` argument) and then reads only the modules it does not describe.
{
  runCommand,
  kmodtree,
  kernel,
  ...
}:

runCommand ((kernel.name or "kernel") + "-kmodtree-manifest")
  {
    inherit kernel;
    preferLocalBuild = true;
  }
  ''
    version=$(ls "$kernel/lib/modules")
    if [ "$(echo $version | wc -w)" != 1 ]; then
      echo "inconsistent kernel versions:" $version
      exit 1
    fi
    mkdir -p "$out" tree/lib/modules
    ${kmodtree}/bin/kmodtree union --mode buildenv "tree/lib/modules/$version" "$kernel/lib/modules/$version"
    ${kmodtree}/bin/kmodtree depmod -b tree -a "$version" --manifest "$out/kmodtree.manifest" > /dev/null
  ''
