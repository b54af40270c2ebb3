sqlite3 db.sqlite "CREATE TABLE t(x);" "INSERT INTO t VALUES(1);"
