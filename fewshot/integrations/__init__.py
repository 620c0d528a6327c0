"""Other libraries, joined where they meet fewshot: learn2learn (its build and its task
datasets). Each integration imports its library only when used.
"""
