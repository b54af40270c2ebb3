"""A checker: exits 1 unless PATH holds one JSON object with integer writer and seq fields."""
import json
import sys

try:
    with open(sys.argv[1]) as f:
        state = json.load(f)
except (OSError, ValueError) as e:
    print(f"{sys.argv[1]}: {e}")
    sys.exit(1)
if not isinstance(state.get("writer"), int) or not isinstance(state.get("seq"), int):
    print(f"{sys.argv[1]}: no integer writer and seq")
    sys.exit(1)
