"""What Wan accepts and what it costs: the model catalogue (data), request rules, extra fields,
prices. Pure: no I/O beyond reading the package's own data files. Shared by the client and the emulator.
"""
