"""The neptune-query read side: the routes neptune-query calls, NQL, and the answers' encodings.

``routes`` mounts the endpoints; ``nql`` parses run filters; ``read`` and ``series`` answer
attribute and series requests from the store; ``attrs`` resolves runs and attribute types;
``models`` holds the request bodies and ``wire`` the hand-encoded protobuf answers.
"""
