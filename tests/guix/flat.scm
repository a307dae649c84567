;; Runs the body of Guix's `flat-linux-module-directory' (gnu/system/linux-initrd.scm)
;; outside the store, with the host's gunzip and zstd:
;;   guile -L GUIX_SRC tests/guix/flat.scm LINUX OUTPUT MODULE...
;; LINUX is the directory holding lib/modules; OUTPUT must not exist.
(use-modules (gnu build linux-modules)
             (guix build utils)
             (rnrs io ports)
             (srfi srfi-1)
             (srfi srfi-26)
             (ice-9 match))

(match (cdr (command-line))
  ((linux output . requested)
   (let* ((module-dir (string-append linux "/lib/modules"))
          (builtin
           (match (find-files module-dir
                              (lambda (file stat)
                                (string=? (basename file) "modules.builtin")))
             ((file . _)
              (call-with-input-file file
                (lambda (port)
                  (map file-name->module-name
                       (string-tokenize (get-string-all port))))))
             (_ '())))
          (to-lookup (lset-difference string=? requested builtin))
          (lookup (cut find-module-file module-dir <>))
          (found (map lookup to-lookup))
          (closure (append found
                           (recursive-module-dependencies
                            found #:lookup-module lookup))))
     (mkdir output)
     (for-each (lambda (module)
                 (let ((copy (string-append output "/" (basename module))))
                   (copy-file module copy)
                   (cond ((string-contains copy ".ko.gz")
                          (invoke "gunzip" copy))
                         ((string-contains copy ".ko.zst")
                          (invoke "zstd" "-q" "-d" copy)))))
               (delete-duplicates closure))
     (write-module-name-database output)))
  (_
   (format (current-error-port) "usage: flat.scm LINUX OUTPUT MODULE...~%")
   (exit 2)))
