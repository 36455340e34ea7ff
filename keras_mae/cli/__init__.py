"""The `keras-mae` command line (`keras_mae.cli.main`).

Run `keras-mae --help`; `keras-mae cluster` and `keras-mae demo` are in
`keras_mae.cli.cluster`, the preset commands in `keras_mae.cli.preset_commands`.
"""
