"""The ipywidgets form: a thin shell (`widget`) over pure field logic (`fields`, `logic`, `image_input`)
and a job that runs one generation on a session (`job`).
"""
