"""Value handlers for the journal codec, one module per library, installed as ``mlsitter.value_handlers``.

Each module names its library only in strings until a value of that library is met, so importing it is cheap.
"""
