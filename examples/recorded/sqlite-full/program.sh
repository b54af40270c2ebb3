# A commit in rollback-journal mode with synchronous=FULL: the journal's unlink, which makes
# the commit, is not followed by a directory fsync, so a power loss can bring the journal back
# and the next open rolls the acknowledged commit back.
sqlite3 db.sqlite "PRAGMA journal_mode=DELETE;" "PRAGMA synchronous=FULL;" "INSERT INTO t VALUES(2);" >/dev/null
echo saved >&"$FAULTLINE_ACK_FD"
