"""Conversations: the threads of one agent, sharing its memory and sleeptime group."""
