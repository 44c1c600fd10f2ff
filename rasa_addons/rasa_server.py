"""`rasa` as our app starts it: Rasa's own command line, after our changes to it are installed.

Run by Rasa's Python as `python rasa_addons/rasa_server.py run ...` (bot/rasa_runtime.py);
the arguments are Rasa's. What is changed and why: action_result_check.py.
"""

from __future__ import annotations

import sys

from action_result_check import install

INSTALLED = "rasa_addons: custom action answers are checked with a prebuilt validator"

if __name__ == "__main__":
    install()
    print(INSTALLED, flush=True)  # into Rasa's console log, where tests look for it
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    main()
