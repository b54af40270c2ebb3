# The repository is whole (git fsck), HEAD names a commit, and that commit is "two" once
# "saved" was acknowledged.
problems=$(git fsck --no-progress 2>&1 >/dev/null) || { echo "git fsck: $problems"; exit 1; }
subject=$(git log -1 --format=%s 2>&1) || { echo "git log: $subject"; exit 1; }
if grep -q saved "$1" && [ "$subject" != two ]; then echo "saved was acknowledged, but HEAD is '$subject'"; exit 1; fi
