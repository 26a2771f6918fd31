import json

print(json.dumps({"bytes": 0}))
