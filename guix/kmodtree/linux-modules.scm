;;; kmodtree --- Linux kernel module trees for Nix and Guix builders
;;;
;;; This program is free software; you can redistribute it and/or modify it
;;; under the terms of the GNU General Public License as published by the
;;; Free Software Foundation; either version 2 of the License, or (at your
;;; option) any later version.

(define-module (kmodtree linux-modules)
  #:use-module (ice-9 ftw)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-1)
  #:export (make-linux-module-directory
            write-module-name-database
            write-module-alias-database
            write-module-device-database
            make-flat-linux-module-directory
            build-dkms-module
            kmodtree-program))

;;; Commentary:
;;;
;;; The procedures of (gnu build linux-modules) that write module trees and
;;; databases, with the same names and arguments, implemented by running
;;; kmodtree.  A build-side Guile program switches from Guix's to these by
;;; changing
;;;
;;;   (use-modules (gnu build linux-modules))
;;; to
;;;   (use-modules (kmodtree linux-modules))
;;;
;;; (or by importing only these names from this module).  kmodtree is the
;;; program named by the environment variable KMODTREE, else "kmodtree" on
;;; PATH.  Failures raise an error naming the command, as Guix's `invoke'.
;;;
;;; Also: make-flat-linux-module-directory, the build-side body of Guix's
;;; `flat-linux-module-directory' (gnu/system/linux-initrd.scm).
;;;
;;; Code:

(define (kmodtree-program)
  "The kmodtree executable: $KMODTREE, else \"kmodtree\" (found on PATH)."
  (match (getenv "KMODTREE")
    ((or #f "") "kmodtree")
    (program program)))

(define (run-kmodtree . arguments)
  "Run kmodtree with ARGUMENTS; raise an error unless it succeeds."
  (let* ((command (cons (kmodtree-program) arguments))
         (status (apply system* command)))
    (unless (and (status:exit-val status) (zero? (status:exit-val status)))
      (error "command failed:" command
             (or (status:exit-val status)
                 (list 'signal (status:term-sig status)))))
    #t))

(define (make-linux-module-directory inputs version output)
  "Create a new directory OUTPUT and ensure that the directory
OUTPUT/lib/modules/VERSION can be used as a source of Linux kernel modules:
the union of INPUTS (symbolic links to their files, every directory real,
the first input winning a collision, as Guix's union-build), without the
old databases (all modules.* but modules.order and modules.builtin), and
fresh ones written by kmodtree's depmod, byte-identical to kmod's (with
OUTPUT/System.map when there is one, as Guix's `depmod -e -F')."
  (apply run-kmodtree "make-module-directory" "--guix-compat"
         output version inputs))

(define (write-module-database which directory)
  (run-kmodtree "guix-db" "--only" which directory))

(define (write-module-name-database directory)
  "Write DIRECTORY/modules.name, Guix's map from the module names in the
'.ko[.gz|.xz|.zst]' files below DIRECTORY to their file names."
  (write-module-database "name" directory))

(define (write-module-alias-database directory)
  "Write DIRECTORY/modules.alias, Guix's list of the aliases of the
'.ko[.gz|.xz|.zst]' files below DIRECTORY."
  (write-module-database "alias" directory))

(define (write-module-device-database directory)
  "Write DIRECTORY/modules.devname, Guix's list of the device nodes that
trigger loading the '.ko[.gz|.xz|.zst]' files below DIRECTORY."
  (write-module-database "devname" directory))

(define* (make-flat-linux-module-directory linux modules output
                                           #:key soft-dependencies?)
  "Create OUTPUT, a flat directory holding the modules named in MODULES and
their dependencies, taken from LINUX/lib/modules/VERSION (the only kernel
version there) and decompressed, with its modules.name: what the build of
Guix's `flat-linux-module-directory' puts in its output.  Modules built
into the kernel are skipped.  With SOFT-DEPENDENCIES?, soft dependencies
are included too (Guix does not include them)."
  (define versions
    (or (scandir (string-append linux "/lib/modules")
                 (lambda (name) (not (string-prefix? "." name))))
        '()))

  (match versions
    ((version)
     (apply run-kmodtree "flat" "-b" linux
            (append (if soft-dependencies? '("--softdeps") '())
                    (list output version)
                    modules)))
    (()
     (error "no kernel modules in" linux))
    (_
     (error "several kernel versions in" linux versions))))

;;; linux-modules.scm ends here

(define* (build-dkms-module sources output
                            #:key kernel-build kernel-version
                            compress kernel-modules location-override
                            (sandbox "auto") (extra-arguments '()))
  "Build the out-of-tree module SOURCES (a directory or a list of
directories, each with a dkms.conf or a GLEP 33 BUILD_PARAMS file) against
the kernel build directory KERNEL-BUILD for KERNEL-VERSION into the new
directory OUTPUT: OUTPUT/lib/modules/KERNEL-VERSION/... and the build logs in
OUTPUT/share/kmodtree/dkms/.  COMPRESS is #f, \"xz\", \"zst\" or \"gz\";
KERNEL-MODULES, the kernel's lib/modules/VERSION directory, makes the vermagic
check exact; LOCATION-OVERRIDE replaces every DEST_MODULE_LOCATION.  Guix's
build container already isolates the build, so SANDBOX defaults to \"auto\"."
  (apply run-kmodtree
         `("dkms" "build"
           "--kernel-build" ,kernel-build
           "--kernel-version" ,kernel-version
           "--out" ,output
           "--sandbox" ,sandbox
           ,@(if compress (list "--compress" compress) '())
           ,@(if kernel-modules (list "--kernel-modules" kernel-modules) '())
           ,@(if location-override
                 (list "--location-override" location-override)
                 '())
           ,@extra-arguments
           ,@(if (string? sources) (list sources) sources))))
