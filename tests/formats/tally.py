"""The tally the check scripts share: checks passed, failures named, and
the closing line ("N passed, N failed") with the exit status."""
import sys

failures = []
passed = 0


def ok(name, cond, why=""):
    """One check: counted when cond holds, else named with why."""
    global passed
    if cond:
        passed += 1
    else:
        failures.append("%s: %s" % (name, why))


def finish():
    """Prints each failure and the tally; exits 1 on a failure or when
    nothing was checked."""
    for f in failures:
        print("not ok - " + f)
    print("%d passed, %d failed" % (passed, len(failures)))
    sys.exit(1 if failures or passed == 0 else 0)
