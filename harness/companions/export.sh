#!/bin/bash
# Export the companion changes as Gerrit-ready patches: for each companion,
# take the released sdist its overlay is tested on, commit it as it is,
# apply the companion's patches/*.patch, add its new files (the package
# tree and releasenotes/), commit that with commit-message.txt and write
# the commit with `git format-patch`.
#
#   harness/companions/export.sh [OUT_DIR]   (default harness/results/companions)
#
# OUT_DIR/<companion>/ then holds 0001-*.patch (apply with `git am` on the
# project's branch) and BASE (what it was made against).
#
# Environment:
#   CINDER_CHANGE_ID  Change-Id of the Cinder change (default: change-ids)
#   RELATED_BUG       Launchpad bug number; adds "Related-Bug: #N"
#   EXPORT_AUTHOR     "Name <email>" of the commits (default: the author of
#                     the repository's last commit)
#   PIP               pip command used to fetch sdists (default: python3 -m pip)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/harness/results/companions}
pip=${PIP:-python3 -m pip}

# companion folder, PyPI name, version, top-level package
companions=(
    "os-brick os-brick 7.1.1 os_brick"
    "nova nova 34.0.0 nova"
)

change_id() {
    awk -v p="$1" '$1 == p { print $2 }' "$here/change-ids"
}
cinder_change_id=${CINDER_CHANGE_ID:-$(change_id cinder)}
author=${EXPORT_AUTHOR:-$(git -C "$repo" log -1 --format='%an <%ae>' \
                          2>/dev/null || true)}
author=${author:-Lustre driver team <lustre@example.org>}
name=${author% <*}
email=${author##*<}; email=${email%>}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$out/.sdists"

for entry in "${companions[@]}"; do
    read -r folder dist version package <<<"$entry"
    src="$here/$folder"
    # sdists are named after the normalised project name (PEP 625).
    sdist=$out/.sdists/${dist//-/_}-$version.tar.gz
    if [ ! -f "$sdist" ]; then
        $pip download --quiet --no-deps --no-binary :all: \
            -d "$out/.sdists" "$dist==$version" 2>&1 | grep -v '^WARNING' \
            || true
    fi
    [ -f "$sdist" ] || { echo "no sdist $sdist" >&2; exit 1; }
    tar -xzf "$sdist" -C "$work" --no-same-owner
    tree=$work/$folder
    mv "$work/${dist//-/_}-$version" "$tree"

    export GIT_AUTHOR_NAME="$name" GIT_AUTHOR_EMAIL="$email"
    export GIT_COMMITTER_NAME="$name" GIT_COMMITTER_EMAIL="$email"
    # The sdist's egg-info and PKG-INFO are build output, not source.
    git -C "$tree" init --quiet
    printf '*.egg-info/\nPKG-INFO\n' > "$tree/.git/info/exclude"
    git -C "$tree" add --all
    git -C "$tree" commit --quiet --no-verify \
        -m "$dist $version as released (sdist)"

    for patch in "$src"/patches/*.patch; do
        git -C "$tree" apply --index --whitespace=error-all "$patch"
    done
    new_dirs=()
    for dir in "$package" releasenotes; do
        [ -d "$src/$dir" ] && new_dirs+=("$dir")
    done
    (cd "$src" && find "${new_dirs[@]}" -type f \
        ! -name '*.pyc' ! -path '*/__pycache__/*' | sort) |
    while read -r rel; do
        if [ -e "$tree/$rel" ]; then
            echo "$folder/$rel exists in $dist $version: make it a patch" >&2
            exit 1
        fi
        mkdir -p "$(dirname "$tree/$rel")"
        cp "$src/$rel" "$tree/$rel"
        git -C "$tree" add "$rel"
    done

    message=$work/$folder.msg
    sed -e "s/@CHANGE_ID@/$(change_id "$folder")/" \
        -e "s/@CINDER_CHANGE_ID@/$cinder_change_id/" \
        "$src/commit-message.txt" > "$message"
    if [ -n "${RELATED_BUG:-}" ]; then
        sed -i "s/^Depends-On:/Related-Bug: #${RELATED_BUG#\#}\n&/" "$message"
    fi
    if grep -q '@[A-Z_]*@' "$message"; then
        echo "$folder: unfilled placeholder in commit message" >&2
        exit 1
    fi
    git -C "$tree" diff --cached --check
    git -C "$tree" commit --quiet --no-verify -F "$message"

    dest=$out/$folder
    rm -rf "$dest"
    mkdir -p "$dest"
    git -C "$tree" format-patch --quiet --zero-commit --no-signature \
        -o "$dest" -1 HEAD
    {
        echo "$dist $version sdist $(basename "$sdist")"
        echo "sha256 $(sha256sum "$sdist" | cut -d' ' -f1)"
        git -C "$tree" diff --stat HEAD~1 HEAD
    } > "$dest/BASE"
    echo "$folder: $(ls "$dest"/*.patch)"
    sed -n '/^---$/,/^$/p' "$dest"/*.patch | sed '1d;$d'
done
