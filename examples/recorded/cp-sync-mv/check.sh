# config.txt holds one of the two versions, and the new one once "saved" was acknowledged.
content=$(cat config.txt 2>/dev/null) || { echo "config.txt is missing"; exit 1; }
case "$content" in
value=2) exit 0 ;;
value=1) if grep -q saved "$1"; then echo "saved was acknowledged, but config.txt holds value=1"; exit 1; fi ;;
*) echo "config.txt holds neither version: '$content'"; exit 1 ;;
esac
