"""A few preference pairs we wrote ourselves, shared by the engine and training tests."""

QUESTIONS = [
    "Why is the sky blue?",
    "How do I boil an egg?",
    "What is the capital of France?",
    "Give me three tips for sleeping better.",
    "What is 12 times 7?",
    "Explain recursion to a child.",
    "Which is heavier, a kilogram of feathers or a kilogram of iron?",
    "Please list the planets in order from the sun.",
]
GOOD = [
    "Air scatters short blue waves more than red ones, so blue light reaches us from every side.",
    "Cover the egg with cold water, bring it to a boil, then simmer for nine minutes.",
    "The capital of France is Paris.",
    "Keep a regular bedtime, a dark room, and no screens an hour before sleep.",
    "Twelve times seven is 84.",
    "Think of nesting dolls: you open each one until you reach the smallest.",
    "They weigh the same: one kilogram is one kilogram.",
    "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune.",
]
BAD = [
    "No idea.",
    "Eggs are eggs.",
    "Probably London, or somewhere.",
    "Just sleep.",
    "About 90, I guess.",
    "Recursion is recursion.",
    "Iron, obviously.",
    "There are lots of planets.",
]
