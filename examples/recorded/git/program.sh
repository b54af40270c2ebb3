# A commit with git's default fsync settings.
git commit -qam two
echo saved >&"$FAULTLINE_ACK_FD"
