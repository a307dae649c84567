# A minimal nixpkgs for the offline tests: just what it takes to call
# kmodtree's overlay (nix/overlay.nix) the way nixpkgs and NixOS call
# pkgs.aggregateModules and pkgs.makeModulesClosure. Each piece keeps the
# semantics of the nixpkgs source named next to it; none is copied from it.
#   import ./nixpkgs.nix { overlays = [ ... ]; }
{
  overlays ? [ ],
}:

let
  lib = rec {
    # lib/trivial.nix: functionArgs of a functor is that of its __functor;
    # setFunctionArgs makes a functor remembering the argument set.
    isFunction = f: builtins.isFunction f || (f ? __functor && isFunction (f.__functor f));
    functionArgs =
      f:
      if f ? __functor then
        f.__functionArgs or (functionArgs (f.__functor f))
      else
        builtins.functionArgs f;
    setFunctionArgs = f: args: {
      __functor = self: f;
      __functionArgs = args;
    };
    mirrorFunctionArgs =
      f:
      let
        fArgs = functionArgs f;
      in
      g: setFunctionArgs g fArgs;

    # lib/fixed-points.nix: fix, extends, composeManyExtensions.
    fix =
      f:
      let
        x = f x;
      in
      x;
    extends =
      overlay: f: final:
      let
        prev = f final;
      in
      prev // overlay final prev;
    composeExtensions =
      f: g: final: prev:
      let
        fApplied = f final prev;
        prev' = prev // fApplied;
      in
      fApplied // g final prev';
    composeManyExtensions = builtins.foldl' composeExtensions (final: prev: { });

    # lib/customisation.nix: makeOverridable. The result of `f origArgs`
    # gets `override` (call f again with origArgs updated by an attribute
    # set, or by a function of origArgs), and, when it has overrideAttrs,
    # an `overrideAttrs` whose result is itself overridable; a function
    # result becomes a functor with `override`.
    makeOverridable =
      f:
      let
        mirrorArgs = mirrorFunctionArgs f;
      in
      mirrorArgs (
        origArgs:
        let
          result = f origArgs;
          overrideWith = newArgs: origArgs // (if isFunction newArgs then newArgs origArgs else newArgs);
          overrideArgs = mirrorArgs (newArgs: makeOverridable f (overrideWith newArgs));
          overrideResult = g: makeOverridable (mirrorArgs (args: g (f args))) origArgs;
        in
        if builtins.isAttrs result then
          result
          // {
            override = overrideArgs;
            ${if result ? overrideAttrs then "overrideAttrs" else null} =
              fdrv: overrideResult (x: x.overrideAttrs fdrv);
          }
        else if isFunction result then
          setFunctionArgs result (functionArgs result) // { override = overrideArgs; }
        else
          result
      );

    # lib/customisation.nix: callPackageWith. The function's named
    # arguments taken from autoArgs, then every explicit argument (also
    # ones the function does not name: it must then accept them), missing
    # required arguments an error.
    callPackageWith =
      autoArgs: fn: args:
      let
        f = if isFunction fn then fn else import fn;
        fargs = functionArgs f;
        allArgs = builtins.intersectAttrs fargs autoArgs // args;
        missing = builtins.filter (n: !fargs.${n} && !(allArgs ? ${n})) (builtins.attrNames fargs);
      in
      if missing == [ ] then
        makeOverridable f allArgs
      else
        throw "Function called without required argument \"${builtins.head missing}\"";
  };

  system = builtins.currentSystem;

  # pkgs/stdenv/generic/make-derivation.nix, reduced: the attributes become
  # the derivation's environment except passthru and meta, which are put
  # on the result (with passthru's attributes); overrideAttrs takes
  # `old: { ... }` or `final: old: { ... }` and merges the result into the
  # attributes. The builder is the host's bash (visible in the sandbox
  # through extra-sandbox-paths) with `set -eu -o pipefail`, PATH the bin
  # folders of nativeBuildInputs before /usr/bin and /bin, in $NIX_BUILD_TOP,
  # running buildCommand (passed as a file, as runCommand does).
  mkDerivation =
    attrs:
    let
      drv = derivation (
        builtins.removeAttrs attrs [
          "passthru"
          "meta"
        ]
        // {
          inherit system;
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
              if [ -n "''${buildCommandPath-}" ]; then
                eval "$(< "$buildCommandPath")"
              else
                eval "$buildCommand"
              fi
            ''
          ];
        }
      );
      passthru = attrs.passthru or { };
    in
    drv
    // passthru
    // {
      inherit passthru;
      meta = attrs.meta or { };
      overrideAttrs =
        f0:
        let
          f = old: if builtins.isFunction (f0 old) then f0 attrs old else f0 old;
        in
        mkDerivation (attrs // f attrs);
    };

  base = self: {
    inherit lib;
    stdenvNoCC = {
      inherit mkDerivation;
    };
    stdenv = self.stdenvNoCC;
    buildPackages = self;
    callPackage = lib.callPackageWith self;

    # pkgs/build-support/trivial-builders/default.nix: runCommand name env
    # buildCommand is runCommandWith (stdenvNoCC), mkDerivation with
    # buildCommand passed as a file next to env's passAsFile.
    runCommand =
      name: env: buildCommand:
      mkDerivation (
        {
          enableParallelBuilding = true;
          inherit name buildCommand;
          passAsFile = [ "buildCommand" ] ++ (env.passAsFile or [ ]);
        }
        // builtins.removeAttrs env [ "passAsFile" ]
      );

    # kmod: nixpkgs passes `inherit (buildPackages) kmod` to the
    # aggregator; the builders must accept it (they do not use it).
    kmod = {
      name = "kmod-unused";
    };

    # pkgs/top-level/all-packages.nix: how nixpkgs defines the two, with
    # nixpkgs' own builders (not available offline) behind them.
    aggregateModules =
      modules:
      self.callPackage (
        {
          kmod,
          modules,
          name ? "kernel-modules",
        }:
        throw "nixpkgs' own aggregator.nix is not available offline"
      ) { inherit modules; };
    makeModulesClosure =
      args:
      self.callPackage (
        {
          kernel,
          firmware,
          rootModules,
          allowMissing ? false,
          extraFirmwarePaths ? [ ],
        }:
        throw "nixpkgs' own modules-closure.nix is not available offline"
      ) args;
  };
in
lib.fix (lib.extends (lib.composeManyExtensions overlays) base)
