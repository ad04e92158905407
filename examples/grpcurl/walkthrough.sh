#!/usr/bin/env bash
# A first session with im-repo through grpcurl and server reflection: register two users, create
# a group, send to it, pull, list the conversations and mark them read. Needs grpcurl and jq, and
# the services on their default ports (`make run`); override the addresses with USER_ADDR etc.
set -euo pipefail

GRPCURL=${GRPCURL:-grpcurl}
USER_ADDR=${USER_ADDR:-127.0.0.1:8081}
GROUP_ADDR=${GROUP_ADDR:-127.0.0.1:8082}
MESSAGE_ADDR=${MESSAGE_ADDR:-127.0.0.1:8083}
CONVERSATION_ADDR=${CONVERSATION_ADDR:-127.0.0.1:8084}
run=$(date +%s)$RANDOM

call() { # call ADDRESS SERVICE/METHOD JSON
  echo "> $2 $3" >&2
  $GRPCURL -plaintext -d "$3" "$1" "$2"
}

# 1. Two users (ids are generated when left empty).
alice=$(call "$USER_ADDR" im.user.v1.UserService/Register \
  "{\"username\": \"alice$run\", \"password\": \"correct-horse\"}" | jq -r .user.userId)
bob=$(call "$USER_ADDR" im.user.v1.UserService/Register \
  "{\"username\": \"bob$run\", \"password\": \"correct-horse\"}" | jq -r .user.userId)
echo "alice=$alice bob=$bob"

# 2. A group owned by alice with bob in it; its conversation id is sg_<group_id>.
group=$(call "$GROUP_ADDR" im.group.v1.GroupService/CreateGroup \
  "{\"ownerId\": \"$alice\", \"name\": \"walkthrough\", \"memberIds\": [\"$bob\"]}" | jq -r .group.groupId)
conversation="sg_$group"
echo "group=$group"

# 3. Alice sends (content is bytes: base64 in JSON; "aGVsbG8=" is "hello"). Sending again with
#    the same clientMsgId returns the same message with duplicate=true.
seq=$(call "$MESSAGE_ADDR" im.message.v1.MessageService/SendMessage \
  "{\"clientMsgId\": \"m1\", \"senderId\": \"$alice\", \"conversationType\": \"CONVERSATION_TYPE_GROUP\",
    \"recipientId\": \"$group\", \"contentType\": \"CONTENT_TYPE_TEXT\", \"content\": \"aGVsbG8=\"}" |
  jq -r .message.seq)
echo "sent seq=$seq"

# 4. Bob pulls the conversation from seq 1.
call "$MESSAGE_ADDR" im.message.v1.MessageService/PullMessages \
  "{\"userId\": \"$bob\", \"conversationId\": \"$conversation\", \"beginSeq\": 1}" |
  jq -r '.messages[] | "pulled seq=\(.seq) from=\(.senderId) content=\(.content)"'

# 5. Bob's conversation list: one unread message.
unread=$(call "$CONVERSATION_ADDR" im.conversation.v1.ConversationService/ListConversations \
  "{\"userId\": \"$bob\"}" | jq -r '.totalUnread // "0"')
echo "bob unread=$unread"

# 6. Bob reads everything (readSeq 0 = up to the current max_seq); nothing is unread any more.
call "$CONVERSATION_ADDR" im.conversation.v1.ConversationService/MarkRead \
  "{\"userId\": \"$bob\", \"conversationId\": \"$conversation\"}" >/dev/null
unread=$(call "$CONVERSATION_ADDR" im.conversation.v1.ConversationService/GetTotalUnread \
  "{\"userId\": \"$bob\"}" | jq -r '.totalUnread // "0"')
echo "bob unread after MarkRead=$unread"
