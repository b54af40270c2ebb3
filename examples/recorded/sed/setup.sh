printf 'value=1\n' > config.txt
