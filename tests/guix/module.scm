;; Runs one procedure of (gnu build linux-modules) -- Guix's own, or
;; kmodtree's drop-in (kmodtree linux-modules) -- with Guix's arguments:
;;   guile -L GUIX_SRC -L REPO/guix tests/guix/module.scm guix|kmodtree OP ARG...
;; OP: make-linux-module-directory OUTPUT VERSION INPUT...
;;     name DIR | alias DIR | devname DIR
;;     flat LINUX OUTPUT MODULE...   (kmodtree only; tests/guix/flat.scm is Guix's)
(use-modules (ice-9 match))

(match (cdr (command-line))
  ((impl . arguments)
   (let* ((module (resolve-interface
                   (match impl
                     ("guix" '(gnu build linux-modules))
                     ("kmodtree" '(kmodtree linux-modules)))))
          (procedure (lambda (name) (module-ref module name))))
     (match arguments
       (("make-linux-module-directory" output version . inputs)
        ((procedure 'make-linux-module-directory) inputs version output))
       (("name" directory)
        ((procedure 'write-module-name-database) directory))
       (("alias" directory)
        ((procedure 'write-module-alias-database) directory))
       (("devname" directory)
        ((procedure 'write-module-device-database) directory))
       (("flat" linux output . modules)
        ((procedure 'make-flat-linux-module-directory) linux modules output)))))
  (_
   (format (current-error-port) "usage: module.scm guix|kmodtree OP ARG...~%")
   (exit 2)))
