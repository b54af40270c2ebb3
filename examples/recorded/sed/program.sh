# GNU sed -i writes a temp file and renames it over the old one, with no fsync at all.
sed -i s/value=1/value=2/ config.txt
echo saved >&"$FAULTLINE_ACK_FD"
