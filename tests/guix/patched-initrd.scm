;; Checks the kmodtree part of Guix's gnu/system/linux-initrd.scm once
;; guix/kmodtree-guix.patch is applied, without loading (gnu packages ...)
;; (which the whole file needs): reads the patched FILE, evaluates its
;; kmodtree-package and kmodtree-flat-linux-module-directory definitions in
;; a module with (guix gexp), and prints what they return:
;;   guile -L GUIX_SRC -L REPO/guix tests/guix/patched-initrd.scm FILE
(use-modules (guix gexp)
             (guix packages)
             (ice-9 match)
             (srfi srfi-1))

(define (read-forms file)
  (call-with-input-file file
    (lambda (port)
      (let loop ((forms '()))
        (match (read port)
          ((? eof-object?) (reverse forms))
          (form (loop (cons form forms))))))))

(define (defined-name form)
  (match form
    (((or 'define 'define*) (name . _) . _) name)
    (((or 'define 'define*) (? symbol? name) . _) name)
    (_ #f)))

(match (cdr (command-line))
  ((file)
   (let* ((forms (read-forms file))
          (names (filter-map defined-name forms))
          (env (make-fresh-user-module)))
     (format #t "defines ~{~a ~}~%"
             (filter (lambda (n)
                       (memq n '(kmodtree-package
                                 kmodtree-flat-linux-module-directory
                                 flat-linux-module-directory
                                 guix-flat-linux-module-directory)))
                     names))
     (eval '(use-modules (guix gexp)) env)
     (for-each (lambda (form)
                 (when (memq (defined-name form)
                             '(kmodtree-package
                               kmodtree-flat-linux-module-directory))
                   (eval form env)))
               forms)
     (let* ((package ((module-ref env 'kmodtree-package)))
            (file ((module-ref env 'kmodtree-flat-linux-module-directory)
                   package "/gnu/store/...-linux" '("ext4" "nvme"))))
       (format #t "package ~a~%" (and package (package-name package)))
       (format #t "computed-file ~a ~a~%" (computed-file? file)
               (computed-file-name file)))))
  (_
   (format (current-error-port) "usage: patched-initrd.scm FILE~%")
   (exit 2)))
