;; Runs Guix's `union-build' as `make-linux-module-directory' does
;; (#:create-all-directories? #t), without its per-link log:
;;   guile -L GUIX_SRC tests/guix/union.scm OUTPUT INPUT...
(use-modules (guix build union)
             (ice-9 match))

(match (cdr (command-line))
  ((output . inputs)
   (union-build output inputs
                #:create-all-directories? #t
                #:log-port (%make-void-port "w")))
  (_
   (format (current-error-port) "usage: union.scm OUTPUT INPUT...~%")
   (exit 2)))
