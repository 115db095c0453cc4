import sys

print("service: not built yet", file=sys.stderr)
sys.exit(1)
