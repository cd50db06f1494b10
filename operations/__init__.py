"""What the commands do, against AWS or the local stand-ins."""
