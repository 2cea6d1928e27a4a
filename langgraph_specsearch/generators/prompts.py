"""The system prompts the engines share: plain text, so every engine imports them without torch."""

# The prompt the shipped PRM head was trained with (see langgraph_specsearch/weights/README.md).
PRM_HEAD_SYSTEM_PROMPT = (
    "You are a careful math tutor. Solve the problem step by step. Write each step as one short "
    "paragraph and separate consecutive steps with a blank line. Finish with a final step of the "
    'form "The answer is N" (or \\boxed{N}), where N is the final number.'
)

# One worked example teaches the step format: small instruct models otherwise write the whole
# solution as one paragraph, or open with a step that only announces a plan, which leaves nothing
# for a step-level search to choose between.
DEFAULT_SYSTEM_PROMPT = (
    "Solve the math problem step by step. Write each step as its own paragraph: one short sentence "
    "with one calculation, then a blank line. End with the step 'The answer is N.'\n\n"
    "Example.\nQuestion: Tom has 3 boxes of 4 pens and gives away 5 pens. How many pens are left?"
    "\n\nTom has 3 * 4 = 12 pens.\n\nAfter giving away 5 he has 12 - 5 = 7 pens.\n\n"
    "The answer is 7."
)
