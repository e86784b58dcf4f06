"""The golden cases as the check scripts audit them: each case's folder,
its expected.json and the options of its parameters."""
import json
import os


def options(exp):
    """The audit options of a case's parameters (temperature, downsampling,
    ignored labels)."""
    par = exp["params"]
    opts = ["--temperature", repr(par["temperature"]),
            "--downsample", str(par["downsample"])]
    for v in par.get("ignore_index", []):
        opts += ["--ignore-index", str(v)]
    return opts


def cases(golden):
    """(name, folder, expected, labels-probs-and-options) of every case, in
    name order."""
    for name in sorted(os.listdir(golden)):
        cdir = os.path.join(golden, name)
        if not os.path.isfile(os.path.join(cdir, "expected.json")):
            continue
        exp = json.load(open(os.path.join(cdir, "expected.json")))
        args = ["--labels", os.path.join(cdir, "labels"), "--probs",
                os.path.join(cdir, "probs.h5")] + options(exp)
        yield name, cdir, exp, args
