# callPackage and makeOverridable for lib.nix when it is used without
# nixpkgs' callPackage: the results get `.override` (call again with
# changed arguments) and, when the result has it, `.overrideAttrs` (kept
# overridable), as nixpkgs' lib/customisation.nix gives them. Builtins only.
let
  makeOverridable =
    f: args:
    let
      result = f args;
      overrideWith = newArgs: args // (if builtins.isFunction newArgs then newArgs args else newArgs);
    in
    if builtins.isAttrs result then
      result
      // {
        override = newArgs: makeOverridable f (overrideWith newArgs);
      }
      // (
        if result ? overrideAttrs then
          {
            overrideAttrs = g: makeOverridable (a: (f a).overrideAttrs g) args;
          }
        else
          { }
      )
    else
      result;

  # callPackage: the function's named arguments found in `scope`, then
  # `args` (which may also hold names the function does not list, as
  # nixpkgs' callPackage passes them).
  callPackageWith =
    scope: fn: args:
    let
      f = if builtins.isFunction fn then fn else import fn;
    in
    makeOverridable f (builtins.intersectAttrs (builtins.functionArgs f) scope // args);
in
{
  inherit makeOverridable callPackageWith;
}
