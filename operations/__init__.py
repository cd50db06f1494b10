"""What the commands and the Studio do, against AWS or the local stand-ins, one module per thing it owns."""
