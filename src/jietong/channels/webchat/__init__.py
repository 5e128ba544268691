"""The web chat channel: an embeddable widget (`/static/widget/jietong-chat.js`), visitor
sessions with signed tokens and host-verified identities, a resumable WebSocket, offline
messages that become cases, attachments, typing indicators and transcripts."""
