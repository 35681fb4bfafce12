"""Files in and out: input images checked and encoded before sending; videos streamed, verified
and renamed into place.
"""
