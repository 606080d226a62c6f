# alloc_heavy.py — an allocation-heavy Python workload for the preload tests:
# dicts, lists, strings, tuples, sets, json round trips, sorting, deletion.
# Prints deterministic digests only.
import hashlib
import json
import random

rng = random.Random(20261122)
h = hashlib.sha256()

d = {}
for i in range(200000):
    d["k%d" % rng.randrange(10**9)] = [i, str(i) * (i % 7), (i, i * 2)]
h.update(str(len(d)).encode())
for k in sorted(d)[:1000]:
    h.update(k.encode())

for round_ in range(5):
    lst = [rng.random() for _ in range(100000)]
    lst.sort()
    h.update(repr(lst[::5000]).encode())
    s = set(int(x * 1e6) for x in lst)
    h.update(str(len(s)).encode())
    del lst, s

objs = [{"id": i, "name": "x" * (i % 50), "tags": list(range(i % 9))} for i in range(50000)]
blob = json.dumps(objs)
back = json.loads(blob)
h.update(hashlib.sha256(blob.encode()).digest())
h.update(str(sum(len(o["tags"]) for o in back)).encode())

chunks = []
for i in range(3000):
    chunks.append(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 2000))))
    if len(chunks) > 500:
        del chunks[rng.randrange(len(chunks))]
h.update(b"".join(chunks))
big = [bytearray(1 << 20) for _ in range(50)]
del big
print("python digest", h.hexdigest())
