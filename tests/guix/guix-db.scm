;; Writes Guix's three module databases for DIR with Guix's own procedures:
;;   guile -L GUIX_SRC tests/guix/guix-db.scm DIR [name|alias|devname ...]
;; Used by the kmodtree tests as the reference (KMODTREE_GUIX_SRC).
(use-modules (gnu build linux-modules)
             (ice-9 match))

(match (cdr (command-line))
  ((directory . which)
   (let ((which (if (null? which) '("name" "alias" "devname") which)))
     (when (member "name" which)
       (write-module-name-database directory))
     (when (member "alias" which)
       (write-module-alias-database directory))
     (when (member "devname" which)
       (write-module-device-database directory))))
  (_
   (format (current-error-port) "usage: guix-db.scm DIR [name|alias|devname ...]~%")
   (exit 2)))
