# The database opens (a hot journal is rolled back), passes its integrity check, and holds the
# second row once "saved" was acknowledged.
rows=$(sqlite3 db.sqlite "PRAGMA integrity_check;" "SELECT count(*) FROM t;" 2>&1) || { echo "$rows"; exit 1; }
set -- "$1" $rows
[ "$2" = ok ] || { echo "integrity: $rows"; exit 1; }
if grep -q saved "$1" && [ "$3" -lt 2 ]; then echo "saved was acknowledged, but t holds $3 row(s)"; exit 1; fi
