;; Loads guix/kmodtree.scm with Guix's modules and prints the package:
;;   guile -L GUIX_SRC -L REPO/guix tests/guix/package.scm
;; Output: "name VERSION", "tests? ARGS", then "crate FILE-NAME NIX-BASE32" per input.
(use-modules (kmodtree)
             (guix packages)
             (guix base32)
             (ice-9 match))

(format #t "name ~a ~a~%" (package-name kmodtree) (package-version kmodtree))
(format #t "arguments ~s~%" (package-arguments kmodtree))
(for-each (match-lambda
            ((label (? origin? o))
             (format #t "crate ~a ~a~%" (origin-actual-file-name o)
                     (bytevector->nix-base32-string
                      (content-hash-value (origin-hash o)))))
            ((label other . _)
             (format #t "other ~a~%" label)))
          (package-inputs kmodtree))
