# The subset of `kustomize build` that examples/k8s/overlay-dev uses, for tests on machines with no
# kustomize: `resources` (files, or directories with a kustomization.yaml) and `patches`, either a
# strategic-merge patch (target: the resource of its kind and name; lists of objects merged by
# their Kubernetes merge key) or a JSON 6902 patch (a list of add/replace/remove ops, with a
# `target`). Anything else in a kustomization is an error, so a test cannot pass by ignoring it.
#   python3 kustomize-lite.py DIR   -> the rendered resources as a YAML stream
import copy, os, sys, yaml

MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}

def build(d):
    with open(os.path.join(d, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    unknown = set(k) - {"apiVersion", "kind", "resources", "patches"}
    if unknown: sys.exit(f"kustomize-lite: unsupported fields {sorted(unknown)} in {d}")
    res = []
    for r in k.get("resources", []):
        p = os.path.join(d, r)
        if os.path.isdir(p): res += build(p)
        else:
            with open(p) as f: res += [x for x in yaml.safe_load_all(f) if x]
    for patch in k.get("patches", []):
        unknown = set(patch) - {"path", "target"}
        if unknown: sys.exit(f"kustomize-lite: unsupported patch fields {sorted(unknown)}")
        with open(os.path.join(d, patch["path"])) as f: body = yaml.safe_load(f)
        if isinstance(body, list):
            t = patch["target"]
            targets = [x for x in res if x["kind"] == t["kind"] and x["metadata"]["name"] == t["name"]]
            if len(targets) != 1: sys.exit(f"kustomize-lite: target {t} matches {len(targets)} resources")
            for op in body: json6902(targets[0], op)
        else:
            targets = [x for x in res if x["kind"] == body["kind"] and x["metadata"]["name"] == body["metadata"]["name"]]
            if len(targets) != 1: sys.exit(f"kustomize-lite: patch {patch['path']} matches {len(targets)} resources")
            i = res.index(targets[0])
            res[i] = merge(targets[0], body)
    return res

def merge(base, patch, key=None):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        mk = MERGE_KEYS[key]
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            same = [i for i, x in enumerate(out) if x.get(mk) == item.get(mk)]
            if same: out[same[0]] = merge(out[same[0]], item)
            else: out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)

def json6902(doc, op):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent = doc
    for p in parts[:-1]: parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    last = parts[-1]
    if isinstance(parent, list):
        i = len(parent) if last == "-" else int(last)
        if op["op"] == "add": parent.insert(i, op["value"])
        elif op["op"] == "replace": parent[i] = op["value"]
        elif op["op"] == "remove": del parent[i]
        else: sys.exit(f"kustomize-lite: unsupported op {op['op']}")
    else:
        if op["op"] in ("add", "replace"): parent[last] = op["value"]
        elif op["op"] == "remove": del parent[last]
        else: sys.exit(f"kustomize-lite: unsupported op {op['op']}")

print(yaml.safe_dump_all(build(sys.argv[1]), sort_keys=False), end="")
