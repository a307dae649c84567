;;; kmodtree --- Linux kernel module trees for Nix and Guix builders
;;;
;;; This program is free software; you can redistribute it and/or modify it
;;; under the terms of the GNU General Public License as published by the
;;; Free Software Foundation; either version 2 of the License, or (at your
;;; option) any later version.

(define-module (kmodtree)
  #:use-module (guix packages)
  #:use-module (guix gexp)
  #:use-module (guix download)
  #:use-module (guix base16)
  #:use-module (guix build-system cargo)
  #:use-module ((guix utils) #:select (current-source-directory))
  #:use-module ((guix licenses) #:prefix license:)
  #:use-module (ice-9 match)
  #:use-module (ice-9 rdelim)
  #:use-module (srfi srfi-1)
  #:export (kmodtree
            cargo-lock-crates))

;;; Commentary:
;;;
;;; kmodtree built from this checkout with Guix's cargo-build-system:
;;;
;;;   guix build -L guix kmodtree         # or -f with a file returning it
;;;
;;; The crates come from Cargo.lock: every registry package is fetched from
;;; crates.io and checked against the SHA-256 that Cargo.lock records (the
;;; hash of the same .crate file Guix downloads), so the lock file is the
;;; only list to keep up to date.
;;;
;;; Code:

(define %checkout
  ;; The directory holding Cargo.toml (this file is in its guix/).
  (dirname (current-source-directory)))

(define (cargo-package-version file)
  "The version of the [package] of Cargo.toml FILE."
  (call-with-input-file file
    (lambda (port)
      (let loop ((in-package? #f))
        (let* ((raw (read-line port))
               (line (if (eof-object? raw) raw (string-trim-both raw))))
          (cond ((eof-object? line)
                 (error "no package version in" file))
                ((string-prefix? "[" line)
                 (loop (string=? line "[package]")))
                ((and in-package? (string-prefix? "version" line)
                      (string-index line #\"))
                 => (lambda (start)
                      (let ((end (string-index line #\" (+ start 1))))
                        (substring line (+ start 1) end))))
                (else (loop in-package?))))))))

(define (cargo-lock-packages file)
  "Return the packages of Cargo.lock FILE as association lists of their
string fields (name, version, source, checksum)."
  (define (field line)
    ;; KEY = "VALUE" -> (KEY . VALUE); other lines -> #f.
    (match (string-index line #\=)
      (#f #f)
      (i (let ((key (string-trim-both (substring line 0 i)))
               (value (string-trim-both (substring line (+ i 1)))))
           (and (string-prefix? "\"" value)
                (string-suffix? "\"" value)
                (> (string-length value) 1)
                (cons key (substring value 1 (- (string-length value) 1))))))))

  (call-with-input-file file
    (lambda (port)
      (let loop ((packages '())
                 (current #f))
        (let ((line (read-line port)))
          (cond ((eof-object? line)
                 (reverse (if current (cons current packages) packages)))
                ((string=? (string-trim-both line) "[[package]]")
                 (loop (if current (cons current packages) packages) '()))
                ((string-prefix? "[" (string-trim line))
                 ;; Another table (e.g. [metadata]) ends the current one.
                 (loop (if current (cons current packages) packages) #f))
                ((and current (field line))
                 => (lambda (pair) (loop packages (cons pair current))))
                (else (loop packages current))))))))

(define* (cargo-lock-crates #:optional
                            (file (string-append %checkout "/Cargo.lock")))
  "Return an origin for every crates.io package of Cargo.lock FILE, as
Guix's crate-source makes them, its hash taken from the lock file."
  (filter-map
   (lambda (fields)
     (let ((name (assoc-ref fields "name"))
           (version (assoc-ref fields "version"))
           (source (assoc-ref fields "source"))
           (checksum (assoc-ref fields "checksum")))
       (and source checksum
            (string-prefix? "registry+" source)
            (origin
              (method url-fetch)
              (uri (crate-uri name version))
              (file-name (string-append (crate-name->package-name name)
                                        "-" version ".tar.gz"))
              (sha256 (base16-string->bytevector checksum))))))
   (cargo-lock-packages file)))

(define (checkout-file? file stat)
  "Whether FILE belongs in the source: not build products, VCS data or
Nix results."
  (let ((base (basename file)))
    (not (or (member base '("target" ".git"))
             (string-prefix? "result" base)))))

(define %fixture-tests
  ;; The families of the tests/testsuite binary that read the shared
  ;; fixture trees (../shared/fixtures, not part of the checkout): skipped.
  '("audit_incremental" "audit_tools" "cli_json" "cli_messages" "cli_output"
    "cli_progress" "closure_copy"
    "closure_show_depends" "depmod_determinism" "depmod_faults"
    "depmod_fixtures" "determinism" "dkms_build" "dkms_compare" "fuzz_corpus"
    "guix_databases" "guix_flat" "guix_module" "index_hostile" "index_lookup"
    "index_roundtrip" "modinfo_cli" "modinfo_fixtures" "modinfo_kmod34"
    "modinfo_names" "modprobe_parity" "module_reader" "nix_builders"
    "tree_hostile" "union_build" "union_make_module_directory"
    "verify_kmod_writer"))

(define-public kmodtree
  (package
    (name "kmodtree")
    (version (cargo-package-version (string-append %checkout "/Cargo.toml")))
    (source (local-file %checkout "kmodtree-checkout"
                        #:recursive? #t
                        #:select? checkout-file?))
    (build-system cargo-build-system)
    (arguments
     (list #:install-source? #f
           #:cargo-test-flags
           `(list "--release" "--lib" "--bins" "--test" "testsuite" "--"
                  ,@(append-map (lambda (test)
                                  (list "--skip" (string-append test "::")))
                                %fixture-tests))
           #:phases
           #~(modify-phases %standard-phases
               (add-after 'install 'install-manual-and-completions
                 ;; Generated by the tool from its command-line definitions.
                 (lambda* (#:key outputs #:allow-other-keys)
                   (let* ((out (assoc-ref outputs "out"))
                          (kmodtree (string-append out "/bin/kmodtree")))
                     (invoke kmodtree "man" "--out"
                             (string-append out "/share/man/man1"))
                     (for-each
                      (lambda (shell file)
                        (let ((file (string-append out "/share/" file)))
                          (mkdir-p (dirname file))
                          (invoke "sh" "-c" "\"$0\" completions \"$1\" > \"$2\""
                                  kmodtree shell file)))
                      '("bash" "zsh" "fish")
                      '("bash-completion/completions/kmodtree"
                        "zsh/site-functions/_kmodtree"
                        "fish/vendor_completions.d/kmodtree.fish"))))))))
    (inputs (cargo-lock-crates))
    (home-page "https://example.invalid/kmodtree")
    (synopsis "Assemble Linux kernel module trees and kmod's databases")
    (description
     "kmodtree writes every @file{modules.*} database of a Linux kernel
module tree byte-identical to kmod's @command{depmod}, reads modules as
@command{modinfo} does, resolves them as @command{modprobe --show-depends}
does, and builds the trees Nix and Guix builders need: module closures,
unions of module packages with fresh databases, Guix's @file{modules.name},
@file{modules.alias} and @file{modules.devname}, and flat initrd module
directories.")
    (license license:gpl2+)))

kmodtree
