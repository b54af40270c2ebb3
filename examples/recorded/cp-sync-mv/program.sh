# A durable save from coreutils: write, cp to a temp (copy_file_range), sync the temp, mv it
# over the old file, sync the directory.
printf 'value=2\n' > staging
cp staging config.tmp
sync config.tmp
mv config.tmp config.txt
sync .
echo saved >&"$FAULTLINE_ACK_FD"
