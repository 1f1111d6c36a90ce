#!/bin/bash
# Build the stack's guest from Debian packages only: Debian's kernel, and
# an initramfs of busybox-static, six virtio modules of that kernel and
# harness/stack/guest/init; plus an empty qcow2 root disk (the guest keeps
# its boot count there).  See harness/stack/guest/README.rst.
#
#   harness/stack/guest/build.sh OUTDIR
#
# Writes OUTDIR/vmlinuz, OUTDIR/initrd.img, OUTDIR/root.qcow2 and
# OUTDIR/VERSION (the packages it used); does nothing when VERSION matches
# what it would build.  The .deb files are fetched with apt-get download
# (nothing is installed on the host) and kept in OUTDIR/debs.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build.sh OUTDIR}
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
         virtio_pci virtio_blk)

# The kernel package linux-image-amd64 points at (e.g. linux-image-6.1.0-57-amd64).
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
             | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
if [ -z "$kernel_pkg" ]; then
    apt-get update -q > /dev/null
    kernel_pkg=$(apt-cache depends linux-image-amd64 \
                 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
fi
[ -n "$kernel_pkg" ] || { echo "no linux-image-amd64 in apt's lists" >&2; exit 1; }
version() { apt-cache policy "$1" | sed -n 's/^ *Candidate: //p'; }
want="$kernel_pkg $(version "$kernel_pkg") busybox-static $(version busybox-static) init $(sha256sum < "$HERE/init" | cut -c1-16)"
if [ -f "$OUT/VERSION" ] && [ "$(cat "$OUT/VERSION")" = "$want" ]; then
    echo "guest up to date: $want"
    exit 0
fi

mkdir -p "$OUT/debs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; _apt cannot write to
# a root-owned one, hence the chmod (else it warns and downloads unsandboxed).
chmod 777 "$work"
(cd "$work" && apt-get download -q "$kernel_pkg" busybox-static > /dev/null)
mv "$work"/*.deb "$OUT/debs/"
for deb in "$OUT/debs/${kernel_pkg}_"*.deb "$OUT/debs/busybox-static_"*.deb; do
    dpkg-deb -x "$deb" "$work/pkg"
done
kver=${kernel_pkg#linux-image-}

rd=$work/initramfs
mkdir -p "$rd"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$work/pkg/bin/busybox" "$rd/bin/busybox"
ln -s busybox "$rd/bin/sh"
install -m 0755 "$HERE/init" "$rd/init"
for m in "${MODULES[@]}"; do
    src=$(find "$work/pkg/lib/modules/$kver" -name "$m.ko" | head -n 1)
    [ -n "$src" ] || { echo "module $m not in $kernel_pkg" >&2; exit 1; }
    cp "$src" "$rd/lib/modules/$m.ko"
done
mknod "$rd/dev/console" c 5 1
(cd "$rd" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 \
    > "$OUT/initrd.img"
cp "$work/pkg/boot/vmlinuz-$kver" "$OUT/vmlinuz"
rm -f "$OUT/root.qcow2"
qemu-img create -q -f qcow2 "$OUT/root.qcow2" 64M
echo "$want" > "$OUT/VERSION"
echo "guest built: $want"
ls -l "$OUT/vmlinuz" "$OUT/initrd.img" "$OUT/root.qcow2"
