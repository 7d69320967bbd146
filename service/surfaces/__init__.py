"""The three surfaces, home feed, related pins and search: each gathers candidates its own way and
finishes its page the same way (``ranked_page``)."""
