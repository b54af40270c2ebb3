# The same commit with synchronous=EXTRA, which fsyncs the directory after the journal's unlink.
sqlite3 db.sqlite "PRAGMA journal_mode=DELETE;" "PRAGMA synchronous=EXTRA;" "INSERT INTO t VALUES(2);" >/dev/null
echo saved >&"$FAULTLINE_ACK_FD"
